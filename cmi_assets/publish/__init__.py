"""What the project publishes outside the analysis zone: the one disclosure-control rule
(disclosure.py) and the open data package (package.py)."""
