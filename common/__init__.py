"""Code shared by two or more services: ECHONET Lite decoding, configuration, the readings bus."""
