# Dashboard: one row per concern, functions then queues.

locals {
  region = data.aws_region.current.region

  lambda_metric = {
    for metric in ["Invocations", "Errors", "Throttles", "ConcurrentExecutions"] : metric => [
      for fn, name in var.function_names : ["AWS/Lambda", metric, "FunctionName", name, { label = fn }]
    ]
  }

  lambda_duration = [
    for fn, name in var.function_names : ["AWS/Lambda", "Duration", "FunctionName", name, { label = "${fn} p99", stat = "p99" }]
  ]

  queue_metric = {
    for metric in ["ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage", "NumberOfMessagesReceived"] : metric => [
      for q, name in var.queue_names : ["AWS/SQS", metric, "QueueName", name, { label = q }]
    ]
  }

  dlq_depth = [
    for q, name in var.dlq_names : ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", name, { label = "${q} DLQ" }]
  ]

  widgets = [
    { title = "Lambda invocations", metrics = local.lambda_metric["Invocations"], stat = "Sum", x = 0, y = 0 },
    { title = "Lambda errors", metrics = local.lambda_metric["Errors"], stat = "Sum", x = 8, y = 0 },
    { title = "Lambda throttles", metrics = local.lambda_metric["Throttles"], stat = "Sum", x = 16, y = 0 },
    { title = "Lambda duration p99 (ms)", metrics = local.lambda_duration, stat = "p99", x = 0, y = 6 },
    { title = "Lambda concurrent executions", metrics = local.lambda_metric["ConcurrentExecutions"], stat = "Maximum", x = 8, y = 6 },
    { title = "Dead-letter queue depth", metrics = local.dlq_depth, stat = "Maximum", x = 16, y = 6 },
    { title = "Queue backlog (visible messages)", metrics = local.queue_metric["ApproximateNumberOfMessagesVisible"], stat = "Maximum", x = 0, y = 12 },
    { title = "Age of oldest message (s)", metrics = local.queue_metric["ApproximateAgeOfOldestMessage"], stat = "Maximum", x = 8, y = 12 },
    { title = "Messages received", metrics = local.queue_metric["NumberOfMessagesReceived"], stat = "Sum", x = 16, y = 12 },
  ]
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = "${var.name}-functions-and-queues"

  dashboard_body = jsonencode({
    widgets = [
      for w in local.widgets : {
        type   = "metric"
        x      = w.x
        y      = w.y
        width  = 8
        height = 6
        properties = {
          title   = w.title
          region  = local.region
          view    = "timeSeries"
          stacked = false
          period  = 300
          stat    = w.stat
          metrics = w.metrics
        }
      }
    ]
  })
}
