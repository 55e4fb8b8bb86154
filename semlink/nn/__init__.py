"""Shared learned building blocks for the semantic systems (spatially conditioned norms, patch
discriminators, the offline perceptual loss, flow, the DVC inter coder, the hyperprior models).
Entropy models and GDN come from CompressAI through :mod:`semlink.entropy`, which also codes
their latents."""
