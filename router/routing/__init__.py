"""Routing: the route tree walk and the aggregation groups with their timers."""
