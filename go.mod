module github.com/failover-ha/failover

go 1.24.0
