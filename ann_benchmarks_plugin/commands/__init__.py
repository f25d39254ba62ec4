"""The ``annann-bench`` command line: ``cli`` (the parser and the sub-commands), with the larger
sub-commands in modules of their own (``reproduce``, ``build_graph``, ``website``) and the
argument helpers they share in ``args``."""
