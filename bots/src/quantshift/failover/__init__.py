"""Failover: the standby's monitor and the promotion steps it shares with the playbooks."""
