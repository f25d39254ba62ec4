"""Data sets and their truth: the ann-benchmarks HDF5 layout, download, converters, exact ground
truth and brute force, recall metrics, synthetic data. Two real sets ship here (package data):
``bigann-10k-128-euclidean.hdf5`` and ``glove-twitter-12k-25-angular.hdf5`` (see README.md).
"""
