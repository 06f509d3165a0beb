"""The transfer pack: the case as a receiving social worker reads it, risks first."""
