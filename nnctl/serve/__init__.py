"""`nnctl serve`: draw a digit in the browser and watch the network answer.

app.py is the HTTP server (routes, bounds, signals), model.py what it answers about the network,
static/ the page (HTML, JavaScript, CSS), served by nnctl itself: it works offline.
"""
