"""Reference library of the deep-learning course: numpy layers, optimizers, models, data and tools."""
