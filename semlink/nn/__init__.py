"""Shared learned building blocks for the semantic systems (spatially conditioned norms, patch
discriminators, the offline perceptual loss). Entropy models and GDN come from CompressAI."""
