"""The health service: one verdict from every service's status, readings and supervisord."""
