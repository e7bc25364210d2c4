"""PyTorch building blocks of the course (CURRICULUM §4.1): the PyTorch notebook's networks and loops.

``dl.nn.basics`` holds the three levels of the PyTorch notebook: functional networks with
hand-managed parameters, ``nn.Module`` subclasses, ``nn.Sequential`` models, and the training
and accuracy loops they share. Import from the submodule (``from dl.nn.basics import ...``), so
that ``import dl.nn`` stays cheap.
"""
