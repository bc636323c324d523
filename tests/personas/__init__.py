"""Independent persona population: synthetic usage written from the design, not the engine."""
