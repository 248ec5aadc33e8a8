# State moves for the fold of this root into modules/platform: every module
# call that was in environments/<env>/main.tf now lives in module.platform.
# The old root had no resource blocks of its own, only data sources (re-read
# on every plan, nothing to move) and these module calls. Terraform moves each
# object still recorded at a "from" address on the next plan; moves whose
# "from" is not in the state are ignored, so a new environment is unaffected.
# Keep these blocks: removing one before every state has been migrated would
# make Terraform destroy and recreate that module's resources.
# infra/tests/check_structure.py fails when an address of the old root has no
# move here (see "Moving the environments into modules/platform" in
# infra/README.md).

moved {
  from = module.network
  to   = module.platform.module.network
}

moved {
  from = module.eks
  to   = module.platform.module.eks
}

moved {
  from = module.rds
  to   = module.platform.module.rds
}

moved {
  from = module.elasticache
  to   = module.platform.module.elasticache
}

moved {
  from = module.mq
  to   = module.platform.module.mq
}

moved {
  from = module.messaging
  to   = module.platform.module.messaging
}

moved {
  from = module.dynamodb
  to   = module.platform.module.dynamodb
}

moved {
  from = module.secrets
  to   = module.platform.module.secrets
}

moved {
  from = module.s3
  to   = module.platform.module.s3
}

moved {
  from = module.iam
  to   = module.platform.module.iam
}

moved {
  from = module.lambda
  to   = module.platform.module.lambda
}

moved {
  from = module.observability
  to   = module.platform.module.observability
}

moved {
  from = module.ci
  to   = module.platform.module.ci
}
