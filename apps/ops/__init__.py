"""Operations: connection health, circuit breakers, alerts, probes, metrics and audit."""
