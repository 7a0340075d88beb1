"""Data shipped with sfid_tf: the catalog of published ADM batches (batches.json)."""
