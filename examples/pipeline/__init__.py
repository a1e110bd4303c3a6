"""The supplier-emissions pipeline: intake → calculate (map-reduce) → validate → report."""
