"""The pipeline's stages: plain functions on numpy arrays (crop, geodesic distance, cue map, fusion, graph cut,
refinement, metrics, intensity scaling, the simulated user). Each module is one stage; none keeps state."""
