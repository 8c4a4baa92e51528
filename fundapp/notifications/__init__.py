"""In-app notifications for staff (admins first): chain breaks, job failures, reminders."""
