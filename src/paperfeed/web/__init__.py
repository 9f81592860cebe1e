"""The web interface: HTML pages with JSON twins. No business logic here: pages call services."""
