"""Training side of RNN Lab: data sources, the generic trainer, one task module per topology."""
