"""`python -m carpenter`: the same entry point as the `carpenter` console script."""

from carpenter.launch import main

main()
