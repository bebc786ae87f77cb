"""The service layer: resource handlers (attribute conversion, validation, allocation) over the NB store."""
