"""Qt-free data access of the visualizers: MySQL history, Redis live streams, and the seam between them."""
