import 'reflect-metadata';
import { configOrExit, runProcess } from '@custos/runtime';
import { gatewaySpec } from './gateway.module.js';

void runProcess(gatewaySpec(configOrExit()));
