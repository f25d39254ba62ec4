"""The harness: what ann-benchmarks' own runner does, with our code.

``definitions`` expands ``algos.yaml``; ``runner`` runs each definition in a fresh process
(``run_algorithm``) or container (``docker_runner``); ``results`` writes and reads the result
files; ``metrics`` scores them; ``provenance`` names the machine and versions behind a run;
``install`` writes our adapters into an ann-benchmarks checkout. It stands on the library and
knows nothing of the reports or the commands.
"""
