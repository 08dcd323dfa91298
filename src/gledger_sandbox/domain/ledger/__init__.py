"""The ledger core: money, accounts and entries, the store with its event log and due queues,
postings, batches, entry queries, pages, per-day totals, reports, the schedule of due work.
"""
