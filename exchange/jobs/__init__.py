"""Transfer jobs: an export sent record by record to the exchange, resumable, with a report."""
