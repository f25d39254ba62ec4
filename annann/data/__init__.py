"""Data sets and their truth: the ann-benchmarks HDF5 layout, download, converters, exact ground
truth and brute force, recall metrics, synthetic data. ``bigann-10k-128-euclidean.hdf5`` ships here.
"""
