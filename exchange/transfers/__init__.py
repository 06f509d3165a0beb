"""Transfers between authorities: the API, the inbox and the statutory clock."""
