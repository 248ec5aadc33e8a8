output "vpc_id" {
  description = "ID of the VPC."
  value       = aws_vpc.this.id
}

output "vpc_cidr_block" {
  description = "CIDR block of the VPC."
  value       = aws_vpc.this.cidr_block
}

output "availability_zones" {
  description = "Availability zones in use, in subnet order."
  value       = var.availability_zones
}

output "public_subnet_ids" {
  description = "IDs of the public subnets (ALB, NAT gateways)."
  value       = aws_subnet.public[*].id
}

output "private_subnet_ids" {
  description = "IDs of the private subnets (EKS, Lambda, Amazon MQ, endpoints)."
  value       = aws_subnet.private[*].id
}

output "database_subnet_ids" {
  description = "IDs of the isolated database subnets (RDS, ElastiCache)."
  value       = aws_subnet.database[*].id
}

output "private_route_table_ids" {
  description = "IDs of the private route tables."
  value       = aws_route_table.private[*].id
}

output "database_route_table_id" {
  description = "ID of the database route table."
  value       = aws_route_table.database.id
}

output "nat_public_ips" {
  description = "Public egress IPs of the NAT gateways (give them to partners who allowlist webhook sources)."
  value       = aws_eip.nat[*].public_ip
}

output "vpc_endpoint_security_group_id" {
  description = "Security group of the interface endpoints."
  value       = aws_security_group.endpoints.id
}

output "flow_log_group_name" {
  description = "CloudWatch log group receiving VPC flow logs."
  value       = aws_cloudwatch_log_group.flow_logs.name
}

output "gateway_endpoint_prefix_list_ids" {
  description = "Prefix lists of the S3 and DynamoDB gateway endpoints, keyed by service: allow HTTPS egress to these (and to vpc_endpoint_security_group_id) instead of the whole VPC CIDR."
  value       = { for s, e in aws_vpc_endpoint.gateway : s => e.prefix_list_id }
}

output "interface_endpoint_dns_names" {
  description = "Regional DNS names of the interface endpoints, keyed by service (private DNS resolves the public AWS names to them too)."
  value       = { for s, e in aws_vpc_endpoint.interface : s => e.dns_entry[0].dns_name }
}
