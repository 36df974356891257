export type {
  CallbackDelivery,
  MockApi,
  MockApiOptions,
  MockDirective,
  MockFailure,
  MockImage,
  MockImageDownload,
  MockTask,
  MockTaskOutcome,
  MockTaskResponse,
  RecordedCall,
} from './server.js';
export { describeMockApi, MOCK_DIRECTIVES, startMockApi } from './server.js';
