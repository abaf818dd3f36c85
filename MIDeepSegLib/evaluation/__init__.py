"""Research tooling, not installed into Slicer: validation on unseen structures, the benchmark against classical
methods, model cards, charts and pictures, and the demo."""
