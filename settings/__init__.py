"""Layer 1: the typed settings of a stack (pydantic), on top of platform_model only."""
