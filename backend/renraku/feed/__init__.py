"""The notebook: posts, receipts, acknowledgements, photos, and the event log of the live feed."""
