"""InfluxDB v2 writer: readings from the bus → a disk queue → InfluxDB, nothing lost."""
