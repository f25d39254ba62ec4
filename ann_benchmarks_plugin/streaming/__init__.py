"""The streaming benchmark: runbooks of inserts, deletes and searches (``runbooks``), the
algorithms under them (``algorithms``), the exact ground truth of the active set
(``groundtruth``), the replay (``runner``) and its plot and table (``report``)."""
