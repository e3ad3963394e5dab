"""Camera health: state timelines per camera, coverage gaps per location, alerts and reports."""
