"""Research tooling, not installed into Slicer: the simulated user's loop and NoC, validation on unseen
structures, the benchmark against classical methods, model cards, charts and pictures, and the demo."""
