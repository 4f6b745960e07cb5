"""Open311 GeoReport v2 under ``/open311/v2/``: our categories as services, our
cases as service requests.

- :mod:`~gateway.open311.config`: discovery and formatting settings;
- :mod:`~gateway.open311.render`: the one renderer of both formats (JSON and XML)
  and GeoReport v2 errors;
- :mod:`~gateway.open311.services`: discovery, service list, service definitions;
- :mod:`~gateway.open311.requests`: the request form as a ``ReportSubmission`` and
  a case as a service request (pure);
- :mod:`~gateway.open311.docs`: the response models of the OpenAPI document;
- :mod:`~gateway.open311.routes`: the routes, one per resource, the format a path
  parameter.
"""
