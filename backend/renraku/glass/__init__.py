"""Break-the-glass: a clinician's time-limited, audited, read-only opening of one patient."""
