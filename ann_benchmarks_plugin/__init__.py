"""annann's plugin for the ann-benchmarks harness, in five sub-packages, each standing on the ones
below it (``tests/test_layout.py`` checks it from the imports):

- ``algorithms/``: the ``BaseANN`` adapters, one folder each, as the harness lays them out;
- ``harness/``: config expansion, the runner and its child process, Docker mode, the result files,
  metrics, provenance and the installer into an ann-benchmarks checkout;
- ``streaming/``: the insert/delete benchmark (runbooks, runner, ground truth, report);
- ``reporting/``: plots, tables and the results website, over the harness's result files;
- ``commands/``: ``annann-bench`` (``commands.cli:main``) and its sub-commands.

The plugin imports the library (``annann``); the library never imports the plugin.
"""
