"""Read models of the dunning cases: views written from the event stream with tracking,
the runner that keeps them up to date, queries and rebuild."""
