output "alarm_topic_arn" {
  description = "SNS topic receiving every alarm (subscribe the pager here)."
  value       = aws_sns_topic.this.arn
}

output "dashboard_name" {
  description = "Name of the CloudWatch dashboard."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}

output "dlq_alarm_names" {
  description = "Dead-letter queue alarm names keyed by consumer."
  value       = { for k, a in aws_cloudwatch_metric_alarm.dlq_not_empty : k => a.alarm_name }
}
