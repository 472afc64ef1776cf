#!/usr/bin/env node
// CDK v2 app (plain JavaScript, no compile step) that defines, for one
// environment, the same four stacks that `dxops synth specs/disease-prediction.yaml`
// renders (see stacks/disease-prediction/prod/*.yaml): data, ingest, ml, serving.
//
// It is written the way a CDK user would write it: L2 constructs where the
// library has stable ones (KMS, VPC, S3, Logs, IAM, Lambda, SQS, SNS, API
// Gateway, Events, CloudWatch), L1 `Cfn*` constructs where it has none
// (SageMaker, Glue Data Quality, IoT topic rule, Step Functions from an ASL
// file). The SageMaker pipeline definition, the ASL and the DQDL rules are read
// from the files dxops rendered, so both tools emit the same documents.
//
// Used only by benches/synth/run.sh to time `cdk synth` against `dxops synth`.
// Environments: `-c envs=prod` (default) or `-c envs=prod,staging`.
'use strict';

const fs = require('fs');
const path = require('path');
const cdk = require('aws-cdk-lib');
const { Aws, Duration, Fn, RemovalPolicy, Stack, Tags } = cdk;
const apigw = require('aws-cdk-lib/aws-apigateway');
const cloudwatch = require('aws-cdk-lib/aws-cloudwatch');
const cwActions = require('aws-cdk-lib/aws-cloudwatch-actions');
const ec2 = require('aws-cdk-lib/aws-ec2');
const events = require('aws-cdk-lib/aws-events');
const targets = require('aws-cdk-lib/aws-events-targets');
const glue = require('aws-cdk-lib/aws-glue');
const iam = require('aws-cdk-lib/aws-iam');
const iot = require('aws-cdk-lib/aws-iot');
const kms = require('aws-cdk-lib/aws-kms');
const lambda = require('aws-cdk-lib/aws-lambda');
const logs = require('aws-cdk-lib/aws-logs');
const s3 = require('aws-cdk-lib/aws-s3');
const sagemaker = require('aws-cdk-lib/aws-sagemaker');
const sns = require('aws-cdk-lib/aws-sns');
const subs = require('aws-cdk-lib/aws-sns-subscriptions');
const sqs = require('aws-cdk-lib/aws-sqs');
const sfn = require('aws-cdk-lib/aws-stepfunctions');

const PIPELINE = 'disease-prediction';
const RETENTION = logs.RetentionDays.SIX_YEARS; // 2192 days, as compliance.log_retention_days
const DOCS_DIR = process.env.DXOPS_DOCS_DIR
  || path.join(__dirname, '..', '..', '..', 'stacks', PIPELINE, 'prod');

// Per-environment knobs from specs/disease-prediction.yaml.
const ENVIRONMENTS = {
  staging: { instanceCount: 1, capturePercent: 20, alarmEmails: [] },
  prod: { instanceCount: 2, capturePercent: 100, alarmEmails: ['oncall@example.org', 'clinical-ai@example.org'] },
};

const ECR_DIGEST_PATTERN = '^[0-9]{12}\\.dkr\\.ecr\\.[a-z0-9-]+\\.amazonaws\\.com/[a-z0-9._/-]+@sha256:[0-9a-f]{64}$';

function readDoc(name, envName) {
  // The documents are rendered per environment; only prod's are read here and
  // their environment name is swapped in for the other environments.
  const text = fs.readFileSync(path.join(DOCS_DIR, name), 'utf8');
  return envName === 'prod' ? text : text.split(`${PIPELINE}-prod`).join(`${PIPELINE}-${envName}`);
}

function serviceRole(scope, id, prefix, service, description, statements, roleSuffix) {
  return new iam.Role(scope, id, {
    roleName: `${prefix}-${roleSuffix}`,
    description,
    assumedBy: new iam.ServicePrincipal(service, {
      conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
    }),
    inlinePolicies: statements ? { main: new iam.PolicyDocument({ statements }) } : undefined,
  });
}

function regionScoped(actions) {
  return new iam.PolicyStatement({
    actions,
    resources: ['*'],
    conditions: { StringEquals: { 'aws:RequestedRegion': Aws.REGION } },
  });
}

function logArn(pattern) {
  return Fn.sub(`arn:\${AWS::Partition}:logs:\${AWS::Region}:\${AWS::AccountId}:log-group:${pattern}`);
}

function sagemakerArn(resource) {
  return Fn.sub(`arn:\${AWS::Partition}:sagemaker:\${AWS::Region}:\${AWS::AccountId}:${resource}`);
}

// ---------------------------------------------------------------- data stack
class DataStack extends Stack {
  constructor(scope, id, props) {
    super(scope, id, props);
    const prefix = props.prefix;

    this.key = new kms.Key(this, 'DataKey', {
      description: `Customer-managed key for every store, log, topic and job of ${prefix}`,
      enableKeyRotation: true,
      alias: `alias/${prefix}`,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.key.addToResourcePolicy(new iam.PolicyStatement({
      sid: 'CloudWatchLogsEncryptLogGroups',
      principals: [new iam.ServicePrincipal(`logs.${Aws.REGION}.amazonaws.com`)],
      actions: ['kms:Encrypt', 'kms:Decrypt', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:DescribeKey'],
      resources: ['*'],
      conditions: { ArnLike: { 'kms:EncryptionContext:aws:logs:arn': logArn('*') } },
    }));
    for (const [sid, service] of [['AlarmsPublishToEncryptedTopic', 'cloudwatch.amazonaws.com'],
      ['EventsDeliverToEncryptedTargets', 'events.amazonaws.com']]) {
      this.key.addToResourcePolicy(new iam.PolicyStatement({
        sid,
        principals: [new iam.ServicePrincipal(service)],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }));
    }

    this.vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr('10.40.0.0/16'),
      maxAzs: 2,
      natGateways: 0,
      restrictDefaultSecurityGroup: false,
      subnetConfiguration: [{ name: 'private', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 20 }],
      gatewayEndpoints: { S3: { service: ec2.GatewayVpcEndpointAwsService.S3 } },
    });

    this.securityGroup = new ec2.SecurityGroup(this, 'JobSecurityGroup', {
      vpc: this.vpc,
      description: `${prefix} jobs, endpoint and ingest: HTTPS to AWS service endpoints only`,
      allowAllOutbound: false,
    });
    this.securityGroup.addIngressRule(ec2.Peer.ipv4('10.40.0.0/16'), ec2.Port.tcp(443),
      'HTTPS between members (service endpoints, training cluster)');
    this.securityGroup.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443),
      'HTTPS only; with no internet or NAT gateway it reaches VPC endpoints alone');

    const S = ec2.InterfaceVpcEndpointAwsService;
    const endpoints = {
      SagemakerApi: S.SAGEMAKER_API, SagemakerRuntime: S.SAGEMAKER_RUNTIME, Logs: S.CLOUDWATCH_LOGS,
      Monitoring: S.CLOUDWATCH_MONITORING, Kms: S.KMS, Sts: S.STS, EcrApi: S.ECR, EcrDkr: S.ECR_DOCKER,
      States: S.STEP_FUNCTIONS, Sns: S.SNS,
    };
    for (const [name, service] of Object.entries(endpoints)) {
      this.vpc.addInterfaceEndpoint(`${name}Endpoint`, {
        service, securityGroups: [this.securityGroup], privateDnsEnabled: true, open: false,
      });
    }

    const flowLogGroup = new logs.LogGroup(this, 'FlowLogGroup', {
      logGroupName: `/dxops/${prefix}/vpc-flow-logs`,
      retention: RETENTION,
      encryptionKey: this.key,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const flowLogRole = new iam.Role(this, 'FlowLogRole', {
      roleName: `${prefix}-flow-logs`,
      description: 'VPC flow logs delivery',
      assumedBy: new iam.ServicePrincipal('vpc-flow-logs.amazonaws.com'),
    });
    this.vpc.addFlowLog('FlowLog', {
      destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogGroup, flowLogRole),
      trafficType: ec2.FlowLogTrafficType.ALL,
    });

    const accessLogs = new s3.Bucket(this, 'AccessLogsBucket', {
      bucketName: `${prefix}-access-logs-${Aws.ACCOUNT_ID}`,
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      versioned: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      lifecycleRules: [{
        id: 'keep-six-years',
        expiration: Duration.days(2192),
        noncurrentVersionExpiration: Duration.days(30),
      }],
      removalPolicy: RemovalPolicy.RETAIN,
    });

    const dataBucket = (id, suffix) => {
      const bucket = new s3.Bucket(this, id, {
        bucketName: `${prefix}-${suffix}-${Aws.ACCOUNT_ID}`,
        encryption: s3.BucketEncryption.KMS,
        encryptionKey: this.key,
        bucketKeyEnabled: true,
        blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
        versioned: true,
        objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        enforceSSL: true,
        serverAccessLogsBucket: accessLogs,
        serverAccessLogsPrefix: `${prefix}-${suffix}/`,
        removalPolicy: RemovalPolicy.RETAIN,
      });
      // `eventBridgeEnabled: true` would add a notifications custom resource
      // (a Lambda) that dxops does not need; set the property directly instead.
      bucket.node.defaultChild.addPropertyOverride(
        'NotificationConfiguration.EventBridgeConfiguration.EventBridgeEnabled', true);
      bucket.addToResourcePolicy(new iam.PolicyStatement({
        sid: 'DenyUnencryptedUploads',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['s3:PutObject'],
        resources: [bucket.arnForObjects('*')],
        conditions: { StringNotEqualsIfExists: { 's3:x-amz-server-side-encryption': 'aws:kms' } },
      }));
      return bucket;
    };
    this.rawBucket = dataBucket('RawBucket', 'raw');
    this.artifactsBucket = dataBucket('ArtifactsBucket', 'artifacts');
  }
}

// -------------------------------------------------------------- ingest stack
class IngestStack extends Stack {
  constructor(scope, id, props) {
    super(scope, id, props);
    const { prefix, data } = props;
    const { key, rawBucket, vpc, securityGroup } = data;

    const logGroup = (lgId, name) => new logs.LogGroup(this, lgId, {
      logGroupName: name, retention: RETENTION, encryptionKey: key, removalPolicy: RemovalPolicy.RETAIN,
    });
    const errorsLogGroup = logGroup('IngestErrorsLogGroup', `/dxops/${prefix}/ingest-errors`);
    const functionLogGroup = logGroup('IngestLogGroup', `/aws/lambda/${prefix}-ingest`);
    const accessLogGroup = logGroup('ApiAccessLogGroup', `/dxops/${prefix}/ingest-api-access`);

    const deadLetters = new sqs.Queue(this, 'IngestDeadLetterQueue', {
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: key,
      retentionPeriod: Duration.days(14),
      removalPolicy: RemovalPolicy.RETAIN,
    });

    const fn = new lambda.Function(this, 'IngestFunction', {
      functionName: `${prefix}-ingest`,
      description: 'Stores one JSON clinical record per request in the raw bucket; logs request ids, never records',
      runtime: lambda.Runtime.PYTHON_3_12,
      handler: 'index.handler',
      code: lambda.Code.fromInline(INGEST_HANDLER),
      memorySize: 256,
      timeout: Duration.seconds(15),
      reservedConcurrentExecutions: 20,
      environmentEncryption: key,
      environment: { RAW_BUCKET: rawBucket.bucketName, KMS_KEY_ARN: key.keyArn },
      vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      securityGroups: [securityGroup],
      deadLetterQueue: deadLetters,
      tracing: lambda.Tracing.ACTIVE,
      logGroup: functionLogGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
    });
    rawBucket.grantPut(fn, 'incoming/api/*');

    const api = new apigw.RestApi(this, 'IngestApi', {
      restApiName: `${prefix}-ingest`,
      description: 'Clinical record ingest (IAM SigV4 only)',
      endpointTypes: [apigw.EndpointType.REGIONAL],
      cloudWatchRole: true,
      cloudWatchRoleRemovalPolicy: RemovalPolicy.RETAIN,
      deployOptions: {
        stageName: 'v1',
        tracingEnabled: true,
        accessLogDestination: new apigw.LogGroupLogDestination(accessLogGroup),
        accessLogFormat: apigw.AccessLogFormat.jsonWithStandardFields(),
        loggingLevel: apigw.MethodLoggingLevel.ERROR,
        dataTraceEnabled: false,
        metricsEnabled: true,
        throttlingRateLimit: 50,
        throttlingBurstLimit: 100,
      },
    });
    api.root.addResource('records').addMethod('POST', new apigw.LambdaIntegration(fn), {
      authorizationType: apigw.AuthorizationType.IAM,
    });

    const iotRole = serviceRole(this, 'IotRole', prefix, 'iot.amazonaws.com',
      'The IoT topic rule writes device messages to the raw bucket', [
        new iam.PolicyStatement({ actions: ['s3:PutObject'], resources: [rawBucket.arnForObjects('incoming/iot/*')] }),
        new iam.PolicyStatement({ actions: ['kms:GenerateDataKey', 'kms:Encrypt'], resources: [key.keyArn] }),
        new iam.PolicyStatement({
          actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [`${errorsLogGroup.logGroupArn}:*`],
        }),
      ], 'iot');

    new iot.CfnTopicRule(this, 'DeviceTopicRule', {
      topicRulePayload: {
        description: 'Device vitals from devices/+/vitals to the raw bucket',
        sql: "SELECT * FROM 'devices/+/vitals'",
        awsIotSqlVersion: '2016-03-23',
        ruleDisabled: false,
        actions: [{
          s3: {
            bucketName: rawBucket.bucketName,
            key: 'incoming/iot/${topic()}/${timestamp()}-${newuuid()}.json',
            roleArn: iotRole.roleArn,
          },
        }],
        errorAction: {
          cloudwatchLogs: { logGroupName: errorsLogGroup.logGroupName, roleArn: iotRole.roleArn },
        },
      },
    });
  }
}

// ------------------------------------------------------------------ ml stack
class MlStack extends Stack {
  constructor(scope, id, props) {
    super(scope, id, props);
    const { prefix, envName, settings, data } = props;
    const { key, rawBucket, artifactsBucket, vpc, securityGroup } = data;

    const imageUri = new cdk.CfnParameter(this, 'ImageUri', {
      type: 'String',
      description: 'The dxops-model image, pinned by digest (repository@sha256:...)',
      allowedPattern: ECR_DIGEST_PATTERN,
      constraintDescription: 'must be an ECR image URI pinned by digest',
    });

    const jobRole = (roleId, suffix, description, reads, writes) => serviceRole(
      this, roleId, prefix, 'sagemaker.amazonaws.com', description, [
        new iam.PolicyStatement({ sid: 'ReadInputs', actions: ['s3:GetObject', 's3:ListBucket'], resources: reads }),
        new iam.PolicyStatement({ sid: 'WriteOutputs', actions: ['s3:PutObject', 's3:AbortMultipartUpload'], resources: writes }),
        new iam.PolicyStatement({
          sid: 'UseDataKey',
          actions: ['kms:Decrypt', 'kms:GenerateDataKey', 'kms:Encrypt', 'kms:CreateGrant', 'kms:DescribeKey'],
          resources: [key.keyArn],
        }),
        new iam.PolicyStatement({
          sid: 'JobLogs',
          actions: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams'],
          resources: [logArn('/aws/sagemaker/*')],
        }),
        new iam.PolicyStatement({
          sid: 'PullImage',
          actions: ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchCheckLayerAvailability'],
          resources: [Fn.sub('arn:${AWS::Partition}:ecr:${AWS::Region}:${AWS::AccountId}:repository/*')],
        }),
        regionScoped(['ecr:GetAuthorizationToken', 'ec2:CreateNetworkInterface',
          'ec2:CreateNetworkInterfacePermission', 'ec2:DeleteNetworkInterface',
          'ec2:DeleteNetworkInterfacePermission', 'ec2:DescribeNetworkInterfaces', 'ec2:DescribeVpcs',
          'ec2:DescribeDhcpOptions', 'ec2:DescribeSubnets', 'ec2:DescribeSecurityGroups',
          'cloudwatch:PutMetricData']),
      ], suffix);
    const art = (p) => artifactsBucket.arnForObjects(p);
    const processingRole = jobRole('ProcessingRole', 'processing',
      'Processing step: reads raw records, writes splits and the quality report',
      [rawBucket.bucketArn, rawBucket.arnForObjects('incoming/*'), artifactsBucket.bucketArn, art('config/*')],
      [art('runs/*')]);
    const trainingRole = jobRole('TrainingRole', 'training',
      'Training step: reads splits and earlier models, writes the model artifact',
      [artifactsBucket.bucketArn, art('runs/*'), art('production/*')], [art('runs/*')]);
    const evaluationRole = jobRole('EvaluationRole', 'evaluation',
      'Evaluation step: reads the candidate and production models and the test split, writes the evaluation',
      [artifactsBucket.bucketArn, art('runs/*'), art('config/*'), art('production/*')], [art('runs/*')]);

    const modelPackageGroup = new sagemaker.CfnModelPackageGroup(this, 'ModelPackageGroup', {
      modelPackageGroupName: prefix,
      modelPackageGroupDescription: `Models of ${PIPELINE} (${envName}) that passed every gate; approval: manual`,
    });
    modelPackageGroup.applyRemovalPolicy(RemovalPolicy.RETAIN);

    new glue.CfnDataQualityRuleset(this, 'QualityRuleset', {
      name: `${prefix}-quality`,
      description: `Data-quality rules of ${prefix}, also run by the processing step`,
      ruleset: readDoc('quality.dqdl', envName).trimEnd(),
    });

    const pipelineRole = serviceRole(this, 'PipelineRole', prefix, 'sagemaker.amazonaws.com',
      'The SageMaker pipeline starts its jobs and registers models', [
        new iam.PolicyStatement({
          sid: 'RunJobs',
          actions: ['sagemaker:CreateProcessingJob', 'sagemaker:DescribeProcessingJob', 'sagemaker:StopProcessingJob',
            'sagemaker:CreateTrainingJob', 'sagemaker:DescribeTrainingJob', 'sagemaker:StopTrainingJob', 'sagemaker:AddTags'],
          resources: [sagemakerArn('processing-job/pipelines-*'), sagemakerArn('training-job/pipelines-*')],
        }),
        new iam.PolicyStatement({
          sid: 'RegisterModels',
          actions: ['sagemaker:CreateModelPackage', 'sagemaker:DescribeModelPackage', 'sagemaker:AddTags'],
          resources: [sagemakerArn(`model-package/${prefix}/*`), modelPackageGroup.attrModelPackageGroupArn],
        }),
        new iam.PolicyStatement({
          sid: 'TrackExperiments',
          actions: ['sagemaker:CreateExperiment', 'sagemaker:CreateTrial', 'sagemaker:AssociateTrialComponent',
            'sagemaker:DescribeExperiment', 'sagemaker:DescribeTrial', 'sagemaker:AddTags'],
          resources: [sagemakerArn(`experiment/${prefix}*`), sagemakerArn('experiment-trial/*'),
            sagemakerArn('experiment-trial-component/*')],
        }),
        new iam.PolicyStatement({
          sid: 'PassJobRoles',
          actions: ['iam:PassRole'],
          resources: [processingRole.roleArn, trainingRole.roleArn, evaluationRole.roleArn],
          conditions: { StringEquals: { 'iam:PassedToService': 'sagemaker.amazonaws.com' } },
        }),
        new iam.PolicyStatement({ sid: 'ReadPropertyFiles', actions: ['s3:GetObject'], resources: [art('runs/*')] }),
        new iam.PolicyStatement({
          sid: 'UseDataKey', actions: ['kms:Decrypt', 'kms:CreateGrant', 'kms:DescribeKey'], resources: [key.keyArn],
        }),
      ], 'pipeline');

    const [subnetA, subnetB] = vpc.isolatedSubnets.map((s) => s.subnetId);
    const pipeline = new sagemaker.CfnPipeline(this, 'TrainingPipeline', {
      pipelineName: prefix,
      pipelineDescription: `Process, train, evaluate, gate and register ${PIPELINE} (${envName})`,
      roleArn: pipelineRole.roleArn,
      pipelineDefinition: {
        PipelineDefinitionBody: Fn.sub(readDoc('pipeline.json', envName), {
          ImageUri: imageUri.valueAsString,
          KeyArn: key.keyArn,
          SubnetA: subnetA,
          SubnetB: subnetB,
          SecurityGroup: securityGroup.securityGroupId,
        }),
      },
    });

    this.alarmTopic = new sns.Topic(this, 'AlarmTopic', {
      topicName: `${prefix}-alarms`,
      displayName: `dxops ${prefix}`,
      masterKey: key,
      enforceSSL: true,
    });
    for (const email of settings.alarmEmails) {
      this.alarmTopic.addSubscription(new subs.EmailSubscription(email));
    }
    this.alarmTopic.addToResourcePolicy(new iam.PolicyStatement({
      sid: 'AlarmsPublish',
      principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
      actions: ['sns:Publish'],
      resources: [this.alarmTopic.topicArn],
      conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
    }));

    const retrainLogGroup = new logs.LogGroup(this, 'RetrainLogGroup', {
      logGroupName: `/aws/vendedlogs/states/${prefix}-retrain`,
      retention: RETENTION,
      encryptionKey: key,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const retrainRole = serviceRole(this, 'RetrainRole', prefix, 'states.amazonaws.com',
      'The retraining state machine starts and watches the pipeline and notifies', [
        new iam.PolicyStatement({
          sid: 'RunPipeline',
          actions: ['sagemaker:StartPipelineExecution', 'sagemaker:DescribePipelineExecution'],
          resources: [sagemakerArn(`pipeline/${prefix}`), sagemakerArn(`pipeline/${prefix}/execution/*`)],
        }),
        new iam.PolicyStatement({ sid: 'Notify', actions: ['sns:Publish'], resources: [this.alarmTopic.topicArn] }),
        new iam.PolicyStatement({
          sid: 'UseDataKey', actions: ['kms:Decrypt', 'kms:GenerateDataKey'], resources: [key.keyArn],
        }),
        regionScoped(['logs:CreateLogDelivery', 'logs:GetLogDelivery', 'logs:UpdateLogDelivery',
          'logs:DeleteLogDelivery', 'logs:ListLogDeliveries', 'logs:PutResourcePolicy',
          'logs:DescribeResourcePolicies', 'logs:DescribeLogGroups', 'xray:PutTraceSegments',
          'xray:PutTelemetryRecords', 'xray:GetSamplingRules', 'xray:GetSamplingTargets']),
      ], 'retrain');

    const stateMachine = new sfn.CfnStateMachine(this, 'RetrainStateMachine', {
      stateMachineName: `${prefix}-retrain`,
      stateMachineType: 'STANDARD',
      roleArn: retrainRole.roleArn,
      definitionString: readDoc('retrain.asl.json', envName),
      definitionSubstitutions: { PipelineName: pipeline.ref, TopicArn: this.alarmTopic.topicArn },
      loggingConfiguration: {
        level: 'ALL',
        includeExecutionData: false,
        destinations: [{ cloudWatchLogsLogGroup: { logGroupArn: retrainLogGroup.logGroupArn } }],
      },
      tracingConfiguration: { enabled: true },
      encryptionConfiguration: {
        type: 'CUSTOMER_MANAGED_KMS_KEY', kmsKeyId: key.keyArn, kmsDataKeyReusePeriodSeconds: 300,
      },
    });

    const schedulerRole = new iam.Role(this, 'SchedulerRole', {
      roleName: `${prefix}-scheduler`,
      description: 'EventBridge starts the retraining state machine',
      assumedBy: new iam.ServicePrincipal('events.amazonaws.com'),
    });
    const retrainTarget = new targets.SfnStateMachine(
      sfn.StateMachine.fromStateMachineArn(this, 'RetrainStateMachineRef', stateMachine.attrArn),
      { role: schedulerRole });
    const alarmChange = (alarm) => ({
      source: ['aws.cloudwatch'],
      detailType: ['CloudWatch Alarm State Change'],
      resources: [Fn.sub(`arn:\${AWS::Partition}:cloudwatch:\${AWS::Region}:\${AWS::AccountId}:alarm:${prefix}-${alarm}`)],
      detail: { state: { value: ['ALARM'] } },
    });
    new events.Rule(this, 'RetrainScheduleRule', {
      description: `Retrain ${prefix} on schedule`,
      schedule: events.Schedule.rate(Duration.days(7)),
      targets: [retrainTarget],
    });
    new events.Rule(this, 'RetrainDriftRule', {
      description: `Retrain ${prefix} when the drift alarm fires`,
      eventPattern: alarmChange('drift'),
      targets: [retrainTarget],
    });
    new events.Rule(this, 'RetrainQualityRule', {
      description: `Retrain ${prefix} when the quality alarm fires`,
      eventPattern: alarmChange('quality'),
      targets: [retrainTarget],
    });
    new events.Rule(this, 'RetrainNewDataRule', {
      description: `Retrain ${prefix} when new records land in the raw bucket`,
      eventPattern: { source: ['aws.s3'], detailType: ['Object Created'], detail: { bucket: { name: [rawBucket.bucketName] } } },
      targets: [retrainTarget],
    });

    new cdk.CfnOutput(this, 'PipelineName', { value: pipeline.ref });
    new cdk.CfnOutput(this, 'ModelPackageGroupName', { value: prefix });
    new cdk.CfnOutput(this, 'StateMachineArn', { value: stateMachine.ref });
  }
}

// ------------------------------------------------------------- serving stack
class ServingStack extends Stack {
  constructor(scope, id, props) {
    super(scope, id, props);
    const { prefix, settings, data, ml } = props;
    const { key, artifactsBucket, vpc, securityGroup } = data;
    const endpointName = prefix;

    const imageUri = new cdk.CfnParameter(this, 'ImageUri', {
      type: 'String',
      description: 'The dxops-model image, pinned by digest (repository@sha256:...)',
      allowedPattern: ECR_DIGEST_PATTERN,
      constraintDescription: 'must be an ECR image URI pinned by digest',
    });
    const modelDataUrl = new cdk.CfnParameter(this, 'ModelDataUrl', {
      type: 'String',
      description: 'model.tar.gz of the approved model package',
      allowedPattern: '^s3://[a-z0-9.-]+/.+\\.tar\\.gz$',
    });

    const modelRole = serviceRole(this, 'ModelRole', prefix, 'sagemaker.amazonaws.com',
      'The endpoint loads the approved model and pulls the image', [
        new iam.PolicyStatement({ sid: 'ReadModel', actions: ['s3:GetObject'], resources: [artifactsBucket.arnForObjects('runs/*')] }),
        new iam.PolicyStatement({ sid: 'WriteCapture', actions: ['s3:PutObject'], resources: [artifactsBucket.arnForObjects('capture/*')] }),
        new iam.PolicyStatement({
          sid: 'UseDataKey',
          actions: ['kms:Decrypt', 'kms:GenerateDataKey', 'kms:CreateGrant', 'kms:DescribeKey'],
          resources: [key.keyArn],
        }),
        new iam.PolicyStatement({
          sid: 'EndpointLogs',
          actions: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams'],
          resources: [logArn(`/aws/sagemaker/Endpoints/${prefix}*`)],
        }),
        new iam.PolicyStatement({
          sid: 'PullImage',
          actions: ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchCheckLayerAvailability'],
          resources: [Fn.sub('arn:${AWS::Partition}:ecr:${AWS::Region}:${AWS::AccountId}:repository/*')],
        }),
        regionScoped(['ecr:GetAuthorizationToken', 'ec2:CreateNetworkInterface',
          'ec2:CreateNetworkInterfacePermission', 'ec2:DeleteNetworkInterface',
          'ec2:DeleteNetworkInterfacePermission', 'ec2:DescribeNetworkInterfaces', 'ec2:DescribeVpcs',
          'ec2:DescribeDhcpOptions', 'ec2:DescribeSubnets', 'ec2:DescribeSecurityGroups',
          'cloudwatch:PutMetricData']),
      ], 'model');

    const model = new sagemaker.CfnModel(this, 'Model', {
      executionRoleArn: modelRole.roleArn,
      primaryContainer: {
        image: imageUri.valueAsString,
        modelDataUrl: modelDataUrl.valueAsString,
        environment: {
          DXOPS_DRIFT_METHOD: 'psi',
          DXOPS_DRIFT_THRESHOLD: '0.1',
          DXOPS_METRICS_NAMESPACE: 'dxops',
          DXOPS_ENDPOINT: endpointName,
        },
      },
      enableNetworkIsolation: true,
      vpcConfig: {
        subnets: vpc.isolatedSubnets.map((s) => s.subnetId),
        securityGroupIds: [securityGroup.securityGroupId],
      },
    });

    const endpointConfig = new sagemaker.CfnEndpointConfig(this, 'EndpointConfig', {
      kmsKeyId: key.keyArn,
      productionVariants: [{
        variantName: 'AllTraffic',
        modelName: model.attrModelName,
        initialInstanceCount: settings.instanceCount,
        instanceType: 'ml.c6i.large',
        initialVariantWeight: 1.0,
      }],
      dataCaptureConfig: {
        enableCapture: true,
        initialSamplingPercentage: settings.capturePercent,
        destinationS3Uri: `s3://${artifactsBucket.bucketName}/capture`,
        kmsKeyId: key.keyArn,
        captureOptions: [{ captureMode: 'Input' }, { captureMode: 'Output' }],
        captureContentTypeHeader: {
          csvContentTypes: ['text/csv'],
          jsonContentTypes: ['application/json', 'application/jsonlines'],
        },
      },
    });

    const sm = (metricName, statistic) => new cloudwatch.Metric({
      namespace: 'AWS/SageMaker', metricName, statistic, period: Duration.minutes(1),
      dimensionsMap: { EndpointName: endpointName, VariantName: 'AllTraffic' },
    });
    const dx = (metricName, statistic, period) => new cloudwatch.Metric({
      namespace: 'dxops', metricName, statistic, period, dimensionsMap: { Endpoint: endpointName },
    });
    const alarmAction = new cwActions.SnsAction(ml.alarmTopic);
    const alarm = (alarmId, props2) => {
      const a = new cloudwatch.Alarm(this, alarmId, {
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING, ...props2,
      });
      a.addAlarmAction(alarmAction);
      return a;
    };
    const GT = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD;
    const latencyAlarm = alarm('LatencyAlarm', {
      alarmName: `${prefix}-latency`, alarmDescription: 'p99 model latency above 200 ms',
      metric: sm('ModelLatency', 'p99'), threshold: 200000, evaluationPeriods: 5, datapointsToAlarm: 3,
      comparisonOperator: GT,
    });
    const errorsAlarm = alarm('ErrorsAlarm', {
      alarmName: `${prefix}-errors`, alarmDescription: 'The model answered with 5xx errors',
      metric: sm('Invocation5XXErrors', 'Sum'), threshold: 0, evaluationPeriods: 5, datapointsToAlarm: 2,
      comparisonOperator: GT,
    });
    alarm('DriftAlarm', {
      alarmName: `${prefix}-drift`, alarmDescription: 'Share of features drifting (psi, threshold 0.1) above one half',
      metric: dx('DriftShare', 'Maximum', Duration.hours(1)), threshold: 0.5, evaluationPeriods: 1,
      comparisonOperator: GT,
    });
    alarm('QualityAlarm', {
      alarmName: `${prefix}-quality`, alarmDescription: 'Live macro-F1 below 0.55',
      metric: dx('LiveMacroF1', 'Minimum', Duration.days(1)), threshold: 0.55, evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
    });

    const endpoint = new sagemaker.CfnEndpoint(this, 'Endpoint', {
      endpointName,
      endpointConfigName: endpointConfig.attrEndpointConfigName,
      deploymentConfig: {
        blueGreenUpdatePolicy: {
          trafficRoutingConfiguration: {
            type: 'CANARY',
            canarySize: { type: 'CAPACITY_PERCENT', value: 10 },
            waitIntervalInSeconds: 600,
          },
          terminationWaitInSeconds: 600,
          maximumExecutionTimeoutInSeconds: 3600,
        },
        autoRollbackConfiguration: {
          alarms: [{ alarmName: latencyAlarm.alarmName }, { alarmName: errorsAlarm.alarmName }],
        },
      },
    });

    new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: prefix,
      widgets: [[
        new cloudwatch.GraphWidget({
          title: 'Model latency (microseconds)', width: 12, height: 6,
          left: [sm('ModelLatency', 'p50'), sm('ModelLatency', 'p99')],
        }),
        new cloudwatch.GraphWidget({
          title: 'Invocations and errors', width: 12, height: 6,
          left: [sm('Invocations', 'Sum'), sm('Invocation4XXErrors', 'Sum'), sm('Invocation5XXErrors', 'Sum')],
        }),
      ], [
        new cloudwatch.GraphWidget({
          title: 'Drift: share of drifted features', width: 12, height: 6,
          left: [dx('DriftShare', 'Maximum', Duration.hours(1))],
        }),
        new cloudwatch.GraphWidget({
          title: 'Live quality and predicted classes', width: 12, height: 6,
          left: [dx('LiveMacroF1', 'Minimum', Duration.days(1))], right: [dx('Rows', 'Sum', Duration.days(1))],
        }),
      ]],
    });

    const invokeRole = serviceRole(this, 'InvokeRole', prefix, 'apigateway.amazonaws.com',
      'API Gateway invokes the endpoint', [
        new iam.PolicyStatement({ actions: ['sagemaker:InvokeEndpoint'], resources: [endpoint.ref] }),
      ], 'invoke');

    const accessLogGroup = new logs.LogGroup(this, 'PredictAccessLogGroup', {
      logGroupName: `/dxops/${prefix}/predict-api-access`,
      retention: RETENTION,
      encryptionKey: key,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const api = new apigw.RestApi(this, 'PredictApi', {
      restApiName: `${prefix}-predict`,
      description: 'Disease prediction (IAM SigV4 only)',
      endpointTypes: [apigw.EndpointType.REGIONAL],
      cloudWatchRole: false,
      deployOptions: {
        stageName: 'v1',
        tracingEnabled: true,
        accessLogDestination: new apigw.LogGroupLogDestination(accessLogGroup),
        accessLogFormat: apigw.AccessLogFormat.jsonWithStandardFields(),
        loggingLevel: apigw.MethodLoggingLevel.ERROR,
        dataTraceEnabled: false,
        metricsEnabled: true,
      },
    });
    const integration = new apigw.AwsIntegration({
      service: 'runtime.sagemaker',
      path: `endpoints/${endpointName}/invocations`,
      integrationHttpMethod: 'POST',
      options: {
        credentialsRole: invokeRole,
        passthroughBehavior: apigw.PassthroughBehavior.WHEN_NO_MATCH,
        integrationResponses: [
          { statusCode: '200' },
          { statusCode: '400', selectionPattern: '4\\d\\d' },
          { statusCode: '500', selectionPattern: '5\\d\\d' },
        ],
      },
    });
    api.root.addResource('predict').addMethod('POST', integration, {
      authorizationType: apigw.AuthorizationType.IAM,
      methodResponses: [{ statusCode: '200' }, { statusCode: '400' }, { statusCode: '500' }],
    });

    new cdk.CfnOutput(this, 'EndpointName', { value: endpoint.attrEndpointName });
  }
}

const INGEST_HANDLER = `import json, os, uuid, boto3
s3 = boto3.client("s3")
def handler(event, context):
    body = event.get("body") or ""
    try:
        record = json.loads(body)
    except ValueError:
        return {"statusCode": 400, "body": json.dumps({"error": "body is not JSON"})}
    if not isinstance(record, dict):
        return {"statusCode": 400, "body": json.dumps({"error": "body must be a JSON object"})}
    key = "incoming/api/%s.json" % uuid.uuid4()
    s3.put_object(Bucket=os.environ["RAW_BUCKET"], Key=key, Body=json.dumps(record).encode(),
                  ServerSideEncryption="aws:kms", SSEKMSKeyId=os.environ["KMS_KEY_ARN"])
    print(json.dumps({"request_id": context.aws_request_id, "stored": key}))
    return {"statusCode": 202, "body": json.dumps({"stored": key})}
`;

// ------------------------------------------------------------------------ app
// Feature flags set here rather than in cdk.json so that `node app.js` (no CLI)
// synthesizes the same templates as `cdk synth`.
const app = new cdk.App({
  context: {
    '@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy': true,
    '@aws-cdk/aws-iam:minimizePolicies': true,
    '@aws-cdk/core:defaultCrossStackReferences': 'strong',
  },
});
const envNames = String(app.node.tryGetContext('envs') || 'prod').split(',').map((s) => s.trim()).filter(Boolean);

Tags.of(app).add('cost-center', 'clinical-ai');
Tags.of(app).add('owner', 'ml-platform');
Tags.of(app).add('data-classification', 'phi');
Tags.of(app).add('dxops:pipeline', PIPELINE);

for (const envName of envNames) {
  const settings = ENVIRONMENTS[envName];
  if (!settings) throw new Error(`unknown environment ${envName}; known: ${Object.keys(ENVIRONMENTS).join(', ')}`);
  const prefix = `${PIPELINE}-${envName}`;
  const common = { prefix, envName, settings };
  const data = new DataStack(app, `${prefix}-data`, { ...common, stackName: `${prefix}-data` });
  const ingest = new IngestStack(app, `${prefix}-ingest`, { ...common, data, stackName: `${prefix}-ingest` });
  const ml = new MlStack(app, `${prefix}-ml`, { ...common, data, stackName: `${prefix}-ml` });
  const serving = new ServingStack(app, `${prefix}-serving`, { ...common, data, ml, stackName: `${prefix}-serving` });
  for (const stack of [data, ingest, ml, serving]) Tags.of(stack).add('dxops:environment', envName);
}

app.synth();
