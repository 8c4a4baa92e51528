"""The history import (issue 12): one XLSX workbook of the fund's past, checked by a dry run, then
replayed through the fund's own operations in date order, all or nothing."""
