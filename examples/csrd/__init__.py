"""The CSRD report saga of the quick reference, with real example agents."""
