from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Email, Length
from wtforms.widgets import CheckboxInput, ListWidget

from fundapp.auth.models import Role

ROLE_LABELS = {
    Role.ADMIN: _l("Administrator"),
    Role.FUND_MANAGER: _l("Fund manager"),
    Role.IC_MEMBER: _l("Investment committee member"),
    Role.AUDITOR: _l("Auditor"),
}


class RolesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def role_choices():
    return [(role.value, ROLE_LABELS[role]) for role in Role]


class NewUserForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(_l("Enter an e-mail address.")),
                                                 Email(_l("Enter a valid e-mail address."))])
    name = StringField(_l("Name"), validators=[Length(max=200)])
    password = PasswordField(_l("Initial password"), validators=[
        DataRequired(_l("Enter a password.")), Length(min=10, message=_l("At least 10 characters."))])
    roles = RolesField(_l("Roles"), choices=role_choices(),
                       validators=[DataRequired(_l("Choose at least one role."))])


class EditUserForm(FlaskForm):
    roles = RolesField(_l("Roles"), choices=role_choices(),
                       validators=[DataRequired(_l("Choose at least one role."))])
    is_active = BooleanField(_l("Active"))
