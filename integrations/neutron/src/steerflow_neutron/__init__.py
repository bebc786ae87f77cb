"""steerflow as Neutron's backend: ML2 mechanism driver, networking-sfc drivers and the NB resync."""
