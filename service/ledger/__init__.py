"""The double-entry ledger: USD deposit accounts, each in its customer type's account set."""
