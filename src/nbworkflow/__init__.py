"""nbworkflow: turn a notebook cell into a secure, adaptive, auditable agent workflow."""
